"""``python -m cecli``: the same as the ``cecli`` command."""

from cecli.cli import main

if __name__ == "__main__":
    main()
