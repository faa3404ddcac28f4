from rq_actors.commands.cli import main

main()
