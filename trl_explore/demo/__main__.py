"""`python -m trl_explore.demo` = `trl-explore demo`."""

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
