// The small firewall plan the pfSense provider tests deploy: stack "test", interfaces wan/lan, the
// mail host at 10.3.0.4 and 2a05:bec0:27:fd03::4.
import { firewallPlan, type FirewallPlan } from "../../render/firewall-plan";

export function testPlan(publicPorts: readonly number[] = [25, 80, 443]): FirewallPlan {
  return firewallPlan({
    namespace: "test",
    wanInterface: "wan",
    lanInterface: "lan",
    hostIpv4: "10.3.0.4",
    hostPublicIpv6: "2a05:bec0:27:fd03::4",
    hostAddresses: ["10.3.0.4", "2a05:bec0:27:fd03::4"],
    publicPorts,
  });
}
