from tooling.supervisor import die_with_parent
from wagerstream.cli.main import main

die_with_parent()
main()
