//! The backend conformance suite (`embudo_store::conformance`) run against SQLite.

embudo_store::conformance_tests!(embudo_store_sqlite::testing::fresh());
