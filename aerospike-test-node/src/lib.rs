//! An in-process Aerospike node speaking the real wire protocol, for tests.
