//! Integration tests: the real `reqmail` binary on fixtures and the shared corpus.

mod harness;

mod cli;
mod corpus;
mod ingest;
mod threading;
mod transport;
mod imap;
mod serve;
mod smtp;
mod mta_pipe;
