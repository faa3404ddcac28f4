"""`python -m rq_actors.cli_run CONFIG` is `rq-run CONFIG` (handy without the console script)."""

from rq_actors.cli import run_main

if __name__ == "__main__":
    run_main()
