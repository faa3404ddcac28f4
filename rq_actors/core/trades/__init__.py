"""Trade capture core: vault record encoding, ordering/de-duplication, REST backfill planning,
vault position restore and reading the vault back. Pure where possible; the actor is
`rq_actors.actors.trade_writer`."""
