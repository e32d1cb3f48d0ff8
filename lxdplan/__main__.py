from lxdplan.entry import main

main()
