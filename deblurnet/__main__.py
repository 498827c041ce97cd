"""``python -m deblurnet`` (and ``torchrun --nproc_per_node=K -m deblurnet train ...``): the
``deblurnet`` command."""

import sys

from deblurnet.cli import main

sys.exit(main())
