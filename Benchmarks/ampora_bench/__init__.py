"""ampora-bench: the load generator and benchmark runner for Ampora (Python standard library
plus the C workers in ../loadgen). Entry point: ../ampora-bench."""
