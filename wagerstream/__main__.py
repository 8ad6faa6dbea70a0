from wagerstream.cli.main import main

main()
