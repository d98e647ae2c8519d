//! Integration tests: the real `reqmail` binary on fixtures and the shared corpus.

mod harness;

mod approval;
mod cli;
mod corpus;
mod ingest;
mod language;
mod rules;
mod threading;
mod attacks;
mod corpus_mangled;
mod transport;
mod imap;
mod serve;
mod smtp;
mod mta_pipe;
mod report;
mod search;
