/* The gateway process: `domicile serve`. The only entry point src/cli needs. */
#ifndef DOM_GATEWAY_SERVER_H
#define DOM_GATEWAY_SERVER_H

/**
 * Loads the config at `config_path`, opens everything it names (rules, geo database, pin
 * keys, certificates) and checks them against each other; problems are printed as
 * file:line:col: message. With check_only, stops there ("test is successful"). Otherwise
 * serves until SIGTERM/SIGINT, then drains (stop accepting, GOAWAY, close idle keep-alive
 * connections, wait for in-flight requests up to limits.drain_timeout).
 * Returns the process exit status: 0 success, 1 config or start-up error.
 */
int dom_gateway_main(const char *config_path, int check_only);

#endif
