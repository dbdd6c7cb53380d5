from fieldhub.cli import main

main()
