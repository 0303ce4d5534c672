/**
 * The forwarder joins the workload's own consumer group, and while a split runs the workload's
 * pods consume the fallback topic in that same group. Two things kafkajs gets wrong there:
 * - its only assigner, `RoundRobinAssigner`, is a protocol no Java, librdkafka or Go client
 *   speaks: a group with such a member refuses the forwarder (INCONSISTENT_GROUP_PROTOCOL);
 * - as group leader it assigns only the topics the leader itself subscribes to, and every member
 *   gets a share of them whatever it subscribed to: the workload would never get the fallback's
 *   partitions, and the forwarder would be handed them and ignore them.
 * So the forwarder offers the standard protocol names (`range`, `roundrobin`, then kafkajs' own
 * name for kafkajs workloads), all with one assignment that reads each member's subscription:
 * a topic's partitions are split in ranges among the members subscribed to it (Java's
 * RangeAssignor). Any valid assignment will do under a name, since the leader alone computes it.
 * The wire format is the consumer protocol's version 0, which every client reads.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

const { MemberMetadata, MemberAssignment } = AssignerProtocol;

/** Partition ranges by subscription, under `name`. */
const subscriptionRange =
  (name: string): PartitionAssigner =>
  ({ cluster }) => ({
    name,
    version: 0,
    async assign({ members }) {
      const subscribers = new Map<string, string[]>();
      for (const { memberId, memberMetadata } of members)
        for (const topic of MemberMetadata.decode(memberMetadata)?.topics ?? [])
          subscribers.set(topic, [...(subscribers.get(topic) ?? []), memberId]);
      // The leader's metadata covers its own topics only: add the other members' ones.
      await cluster.addMultipleTargetTopics([...subscribers.keys()]);

      const assignment = new Map<string, Record<string, number[]>>(members.map((m) => [m.memberId, {}]));
      for (const [topic, ids] of subscribers) {
        const partitions = cluster
          .findTopicPartitionMetadata(topic)
          .map((p) => p.partitionId)
          .sort((a, b) => a - b);
        const sorted = [...ids].sort();
        const each = Math.floor(partitions.length / sorted.length);
        const extra = partitions.length % sorted.length;
        sorted.forEach((id, i) => {
          const start = each * i + Math.min(i, extra);
          const mine = partitions.slice(start, start + each + (i < extra ? 1 : 0));
          if (mine.length > 0) assignment.get(id)![topic] = mine;
        });
      }
      return [...assignment].map(([memberId, topics]) => ({
        memberId,
        memberAssignment: MemberAssignment.encode({ version: 0, assignment: topics, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name, metadata: MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });

/** In order of preference: what Java/librdkafka/Go consumers offer by default, then kafkajs' name. */
export const groupAssigners: PartitionAssigner[] = ['range', 'roundrobin', 'RoundRobinAssigner'].map(subscriptionRange);
