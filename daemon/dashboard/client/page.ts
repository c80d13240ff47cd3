/** Pages without a module of their own: logout and live times only. */
import { tickSince } from './common.js';

tickSince();
