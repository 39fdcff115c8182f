"""A stand-in `torch` package answering like a CUDA 12.4 build on a machine with an L4 and a T4.

Put its parent directory first on PYTHONPATH to make the torch probe's child process import it.
"""

from types import SimpleNamespace

__version__ = "2.5.1+cu124"
version = SimpleNamespace(cuda="12.4", hip=None)


class _Cuda:
    @staticmethod
    def is_available():
        return True

    @staticmethod
    def device_count():
        return 2

    @staticmethod
    def get_arch_list():
        return ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]

    @staticmethod
    def get_device_properties(i):
        return [SimpleNamespace(name="NVIDIA L4", total_memory=23580639232, major=8, minor=9),
                SimpleNamespace(name="Tesla T4", total_memory=15642329088, major=7, minor=5)][i]


cuda = _Cuda()
backends = SimpleNamespace(mps=SimpleNamespace(is_available=lambda: False))
