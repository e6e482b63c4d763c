// Integration tests need the real Postgres and Redis. When either is missing the
// whole run fails at once with the command that starts it: never a silent skip.
import { checkLocalServices } from '../../src/sandbox/services.js';

export default checkLocalServices;
