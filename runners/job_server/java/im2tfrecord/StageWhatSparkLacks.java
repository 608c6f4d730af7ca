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
 * of them Spark's (measured on YARN here, tests/test_yarn.py). Executors load Spark's jars
 * first (spark.executor.userClassPathFirst is false by default), so a shipped jar whose every
 * entry an executor finds in Spark's jars is never read there. This detector runs Beam's own
 * scan and leaves out those jars: the jars in $SPARK_HOME/jars, and any other whose entries
 * (classes and resources, META-INF aside) are all in them. What remains is the job server's
 * own part: Beam, its gRPC and Guava, and what else Spark lacks.
 *
 * <p>Chosen by the pipeline option --pipeline_resources_detector_factory_class
 * im2tfrecord.StageWhatSparkLacks (runners/emr/steps-spark.json), with this class's jar on the
 * job server's class path (runners/emr/spark_submit_java.sh). Without SPARK_HOME (set by
 * spark-submit) it stages what Beam's scan gives, as Beam does.
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
      if (sparkHome == null) {
        return found;
      }
      File sparkJars = new File(sparkHome, "jars").getAbsoluteFile();
      Set<String> sparkHas = entriesOfJarsIn(sparkJars);
      List<String> staged = new ArrayList<>();
      long left = 0;
      for (String path : found) {
        File file = new File(path).getAbsoluteFile();
        if (sparkJars.equals(file.getParentFile()) || (file.isFile() && sparkHas.containsAll(entriesOr(file)))) {
          left++;
        } else {
          staged.add(path);
        }
      }
      System.err.printf(
          "im2tfrecord: staging %d of the job server's %d class-path files (%d are in Spark's jars)%n",
          staged.size(), found.size(), left);
      return staged;
    }
  }

  private static Set<String> entriesOfJarsIn(File folder) {
    Set<String> all = new HashSet<>();
    File[] jars = folder.listFiles((dir, name) -> name.endsWith(".jar"));
    if (jars != null) {
      for (File jar : jars) {
        all.addAll(entries(jar));
      }
    }
    return all;
  }

  /** A jar's entries, or one no jar has if it cannot be read as one (it is then shipped). */
  private static Set<String> entriesOr(File jar) {
    try {
      return entries(jar);
    } catch (UncheckedIOException e) {
      return Set.of("/" + jar);
    }
  }

  /** A jar's file entries, its META-INF aside (manifests, signatures, licences: never loaded as classes). */
  private static Set<String> entries(File jar) {
    Set<String> names = new HashSet<>();
    try (ZipFile zip = new ZipFile(jar)) {
      Enumeration<? extends ZipEntry> all = zip.entries();
      while (all.hasMoreElements()) {
        ZipEntry entry = all.nextElement();
        if (!entry.isDirectory() && !entry.getName().startsWith("META-INF/")) {
          names.add(entry.getName());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + jar, e);
    }
    return names;
  }
}
