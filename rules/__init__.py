"""Rules: pure memory math and selection. No I/O, no pynvml / psutil / torch."""
