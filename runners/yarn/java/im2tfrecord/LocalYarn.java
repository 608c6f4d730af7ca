package im2tfrecord;

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * A ResourceManager and one NodeManager in this JVM (Hadoop's MiniYARNCluster), for
 * runners/yarn/cluster.sh: YARN as EMR runs Flink and Spark, on one machine.
 *
 * <p>Arguments: the yarn-site.xml to write once both are up (the clients' configuration: the
 * ports YARN picked), the NodeManager's memory in MB and its vcores. Runs until killed.
 * Containers are processes of the NodeManager's, launched by bash as on a real node; the
 * physical and virtual memory checks are off (EMR keeps the virtual one off too), and the
 * capacity scheduler's single queue may give half its memory to application masters, so a
 * Flink session's JobManager and a Spark application's master fit side by side.
 */
public final class LocalYarn {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: LocalYarn YARN_SITE_XML MEMORY_MB VCORES");
      System.exit(2);
    }
    int memoryMb = Integer.parseInt(args[1]);
    YarnConfiguration conf = new YarnConfiguration();
    conf.setInt(YarnConfiguration.NM_PMEM_MB, memoryMb);
    conf.setInt(YarnConfiguration.NM_VCORES, Integer.parseInt(args[2]));
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, memoryMb);
    conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    // A nearly full disk must not mark the only node unhealthy.
    conf.set("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", "99.9");
    conf.set("yarn.scheduler.capacity.root.queues", "default");
    conf.set("yarn.scheduler.capacity.root.default.capacity", "100");
    conf.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
    conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
    MiniYARNCluster cluster = new MiniYARNCluster("im2tfrecord", 1, 1, 1);
    cluster.init(conf);
    cluster.start();
    File site = new File(args[0]);
    File partial = new File(args[0] + ".partial");
    try (OutputStream out = new FileOutputStream(partial)) {
      cluster.getConfig().writeXml(out);
    }
    if (!partial.renameTo(site)) {
      throw new IllegalStateException("could not write " + site);
    }
    System.out.println("YARN up: ResourceManager at " + cluster.getConfig().get(YarnConfiguration.RM_ADDRESS));
    Thread.currentThread().join();
  }
}
