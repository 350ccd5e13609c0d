//! JSON bodies carried by Remoting commands (route data, heartbeat, register-broker, ...).
