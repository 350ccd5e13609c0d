//! Server (accept loop, processor table) and client (multiplexed connections).
