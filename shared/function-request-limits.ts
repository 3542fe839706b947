// The bound on a function request's body, the same wherever a function is reached (Lambda,
// OpenWhisk, serve's /functions/ routes): a request is a few hundred bytes (an image
// reference, a trust policy, a workload's credentials), so anything larger is refused before
// it is decoded or parsed.
export const MAX_FUNCTION_REQUEST_BYTES = 256 * 1024;
