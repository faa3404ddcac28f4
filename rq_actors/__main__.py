from rq_actors.cli import main

main()
