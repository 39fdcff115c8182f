"""`advisor verify`: build the plan's model from its config with random weights (nothing downloaded, no model code
from the repo), run one prefill and a few decode steps with the plan's engine in a child process, and compare what
it really held, phase by phase, with the estimate.

Modules: rss (the kernel's resident-size marks), build (the model from a config), child (the measuring process),
run (the child's start, time limit and clean-up), estimate (the rules' figures by phase), records (measurements in
the inventory database, which fit and check use to correct an estimate).
"""
