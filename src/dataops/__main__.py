from dataops.cli import main

main()
