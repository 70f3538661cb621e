"""`python -m needlework.cli` (also under `accelerate launch -m` and `torchrun -m`): the `needlework` command."""
import sys

from needlework.cli import main

if __name__ == "__main__":
    sys.exit(main())
