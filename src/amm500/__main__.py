"""``python -m amm500``: run the CLI (only when executed, never on import: tools that walk the package import it)."""

if __name__ == "__main__":
    from amm500.cli import main

    main()
