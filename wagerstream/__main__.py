from wagerstream.cli import main

main()
