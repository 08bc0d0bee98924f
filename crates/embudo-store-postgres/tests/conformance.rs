//! The backend conformance suite (`embudo_store::conformance`) run against PostgreSQL, each test
//! on a new database of the server named by `EMBUDO_TEST_PG_URL`.

embudo_store::conformance_tests!(embudo_store_postgres::testing::fresh());
