/// I/O engine namespace; the io_uring and epoll loops arrive with the Gateway issue.
public enum Gateway {}
