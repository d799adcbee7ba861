/// Collector-config toolkit namespace; the parser, model and checks arrive with the Toolkit issue.
public enum Toolkit {}
