// The one place a process reads the wall clock. Each entry point (the CLI's commands, serve,
// every function container) builds its parts with this single Clock, so the store, the
// verifier, the token cache and the log all judge time alike, and a test hands every part the
// same fixed clock instead.
import type { Clock } from '../../shared/ports.js';

export const systemClock: Clock = { now: () => new Date() };
