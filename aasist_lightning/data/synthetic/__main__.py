"""``python -m aasist_lightning.data.synthetic --out DIR``: write the synthetic corpus."""

from aasist_lightning.data.synthetic.corpus import main

raise SystemExit(main())
