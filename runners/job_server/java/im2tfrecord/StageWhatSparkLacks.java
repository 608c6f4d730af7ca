package im2tfrecord;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesDetector;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesOptions;

/**
 * Beam's staging for a Spark job, less what every executor already has.
 *
 * <p>Beam's Spark runner ships each jar of the job server's class path to every executor
 * (SparkConf.setJars with Beam's class-path scan). Under EMR's spark-submit that class path
 * starts with Spark's own jars, so each job sent 381 jars, 410 MiB, to each executor, 322 MiB
 * of them Spark's (measured on YARN here, tests/test_yarn.py). Executors load the cluster's jars
 * first (spark.executor.userClassPathFirst is false by default), so a shipped jar whose every
 * entry an executor finds in them is never read there. This detector runs Beam's own scan and
 * leaves out those jars: the jars in $SPARK_HOME/jars and on spark.executor.extraClassPath
 * (EMR's own jars), and any other whose entries (classes, resources and service registrations;
 * other META-INF files aside) are all in them. What remains is what the executors lack: Beam,
 * its gRPC and Guava, and the like.
 *
 * <p>Chosen by the pipeline option --pipeline_resources_detector_factory_class
 * im2tfrecord.StageWhatSparkLacks (runners/emr/steps-spark.json), with this class's jar beside
 * the job server's (runners/emr/spark_submit_java.sh). It stages what Beam's scan gives, as Beam
 * does, without SPARK_HOME (set by spark-submit), with spark.executor.userClassPathFirst true
 * (the shipped jars would then come first), or when a cluster jar cannot be read.
 */
public final class StageWhatSparkLacks implements PipelineResourcesDetector.Factory {

  /** Beam builds the factory through this method (InstanceBuilder.fromFactoryMethod). */
  public static StageWhatSparkLacks create() {
    return new StageWhatSparkLacks();
  }

  @Override
  public PipelineResourcesDetector getPipelineResourcesDetector() {
    return new Detector();
  }

  private static final class Detector implements PipelineResourcesDetector {
    @Override
    public List<String> detect(ClassLoader classLoader) {
      List<String> found =
          PipelineResourcesOptions.ClasspathScanningResourcesDetectorFactory.create()
              .getPipelineResourcesDetector()
              .detect(classLoader);
      String sparkHome = System.getenv("SPARK_HOME");
      // spark-submit gives a client-mode driver (the job server) the job's Spark settings as
      // system properties.
      if (sparkHome == null || Boolean.parseBoolean(System.getProperty("spark.executor.userClassPathFirst"))) {
        return found;
      }
      Set<File> clusterJars = clusterJars(sparkHome, System.getProperty("spark.executor.extraClassPath", ""));
      Set<String> clusterHas = new HashSet<>();
      try {
        for (File jar : clusterJars) {
          clusterHas.addAll(entries(jar));
        }
      } catch (UncheckedIOException e) {
        System.err.println("im2tfrecord: staging every class-path file: " + e.getMessage());
        return found;
      }
      List<String> staged = new ArrayList<>();
      long left = 0;
      for (String path : found) {
        File file = new File(path).getAbsoluteFile();
        if (clusterJars.contains(file) || (file.isFile() && clusterHas.containsAll(entriesOr(file)))) {
          left++;
        } else {
          staged.add(path);
        }
      }
      System.err.printf(
          "im2tfrecord: staging %d of the job server's %d class-path files (%d are the cluster's)%n",
          staged.size(), found.size(), left);
      return staged;
    }
  }

  /** The jars every executor has: Spark's own, and those on spark.executor.extraClassPath. */
  private static Set<File> clusterJars(String sparkHome, String extraClassPath) {
    Set<File> jars = new HashSet<>(jarsIn(new File(sparkHome, "jars")));
    for (String entry : extraClassPath.split(File.pathSeparator)) {
      if (entry.endsWith("/*")) {
        jars.addAll(jarsIn(new File(entry.substring(0, entry.length() - 2))));
      } else if (entry.endsWith(".jar") && new File(entry).isFile()) {
        jars.add(new File(entry).getAbsoluteFile());
      }
    }
    return jars;
  }

  private static List<File> jarsIn(File folder) {
    List<File> jars = new ArrayList<>();
    File[] found = folder.getAbsoluteFile().listFiles((dir, name) -> name.endsWith(".jar"));
    if (found != null) {
      for (File jar : found) {
        jars.add(jar.getAbsoluteFile());
      }
    }
    return jars;
  }

  /** A jar's entries, or one no jar has if it cannot be read as one (it is then shipped). */
  private static Set<String> entriesOr(File jar) {
    try {
      return entries(jar);
    } catch (UncheckedIOException e) {
      return Set.of("/" + jar);
    }
  }

  /**
   * A jar's file entries: its classes and resources, and its service registrations
   * (META-INF/services), but not the rest of META-INF (manifests, signatures, licences, Maven
   * files: never looked up by name).
   */
  private static Set<String> entries(File jar) {
    Set<String> names = new HashSet<>();
    try (ZipFile zip = new ZipFile(jar)) {
      Enumeration<? extends ZipEntry> all = zip.entries();
      while (all.hasMoreElements()) {
        ZipEntry entry = all.nextElement();
        String name = entry.getName();
        if (!entry.isDirectory() && (!name.startsWith("META-INF/") || name.startsWith("META-INF/services/"))) {
          names.add(name);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + jar, e);
    }
    return names;
  }
}
