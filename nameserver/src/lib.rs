//! `sluice-nameserver`: the route table behind `mqnamesrv`.
