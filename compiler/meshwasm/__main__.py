"""``python -m meshwasm``: the same CLI as the ``meshwasm`` script."""

from meshwasm.cli import main

if __name__ == "__main__":
    main()
