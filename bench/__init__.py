"""`make bench`: time, memory and metrics of every chapter (run.py)."""
