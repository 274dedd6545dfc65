from amm500.cli import main

main()
