"""The running application: HTTP, persistence, auth, jobs and the command line."""
