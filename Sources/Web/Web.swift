/// Operator REST API and UI namespace; endpoints arrive with the Fleet and Web issues.
public enum Web {}
