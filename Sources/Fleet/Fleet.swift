/// Fleet-management namespace; inventory and persistence arrive with the Fleet issue.
public enum Fleet {}
