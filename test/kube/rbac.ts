/** Who a token stands for (test/kube/seed/tokens.csv, kube-apiserver's --token-auth-file format). */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}
