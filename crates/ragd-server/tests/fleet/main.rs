//! The fleet suite (issue 13): three `ragd serve` instances behind a real nginx (round robin, with
//! the shipped `deploy/nginx/` config of issue 15, over HTTPS) on one PostgreSQL and one Redis,
//! all on loopback and free ports, started and stopped by the tests.
//! What one instance learns (a document, a revoked key, a spent quota, a job) the others must see;
//! what happens to one instance (Redis gone, `kill -9`, SIGTERM) must cost no client a request.
//!
//! Needs `RAGD_TEST_DATABASE_URL` (run it as
//! `scripts/with-postgres.sh sh -c 'cargo test -p ragd-server --test fleet'`, as `make test`
//! does), nginx, and `RAGD_TEST_REDIS_URL` or Debian's `redis-server`; without them each test
//! prints why and returns. Fleets run one at a time: three models each on a small machine.

#[path = "../common/mod.rs"]
mod common;
mod deploy_nginx;
mod fleet;
mod instance;
mod jobs;
mod limits;
mod load;
#[path = "../api/receiver.rs"]
mod receiver;
mod services;
mod sharing;
mod shutdown;
mod webhooks;
