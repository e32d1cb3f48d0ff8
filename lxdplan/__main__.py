from lxdplan.cli import main

main()
