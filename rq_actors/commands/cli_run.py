"""`python -m rq_actors.commands.cli_run CONFIG` is `rq-run CONFIG` (no console script needed)."""

from rq_actors.commands.cli import run_main

if __name__ == "__main__":
    run_main()
