"""The mutation check: deliberate breakages the suite must catch.

Each mutant is one edit to a copy of the project (never to the checkout
itself), plus the tests that exist to catch it. The copy's tests run against
the copy's code; a mutant is killed when one of them fails, and the check
names that test. A mutant that survives, or whose edit no longer applies
(the code it breaks has moved: update the mutant), fails the check.

    make mutants                        # every mutant
    python -m tests.mutants --list      # what they are
    python -m tests.mutants orientation_swap crc_skipped

Not part of `make test` (each mutant reruns a few test files, a few minutes
in all); `.ci/run` runs it after the suite.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

# What a copy leaves out: environments, caches and history, none of which the
# tests need from the copy (they run with this checkout's Python).
_AT_ONCE = 2  # Mutants checked at once (`make mutants` on this 2-core machine: 7.4 min one at a time).
_NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".cache", ".git", ".hypothesis", ".pytest_cache", "*.egg-info", "__pycache__", "demo"
)


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    file: str
    old: str
    new: str
    tests: tuple


MUTANTS = (
    Mutant(
        "orientation_swap",
        "EXIF orientations 5<->7 and 6<->8 swapped",
        "transforms/imaging.py",
        "        5: Image.Transpose.TRANSPOSE,\n        6: Image.Transpose.ROTATE_270,\n"
        "        7: Image.Transpose.TRANSVERSE,\n        8: Image.Transpose.ROTATE_90,\n",
        "        7: Image.Transpose.TRANSPOSE,\n        8: Image.Transpose.ROTATE_270,\n"
        "        5: Image.Transpose.TRANSVERSE,\n        6: Image.Transpose.ROTATE_90,\n",
        ("tests/test_imaging.py", "tests/test_orientation.py"),
    ),
    Mutant(
        "tiff_turned_twice",
        "TIFFs turned by their EXIF orientation again after Pillow's loader turned them",
        "transforms/imaging.py",
        '    return frozenset({"TIFF"}) if turned else frozenset()\n',
        "    return frozenset()\n",
        ("tests/test_orientation.py",),
    ),
    Mutant(
        "sixteen_bit_transparency_dropped",
        "a 16-bit grayscale PNG's tRNS key left out of its 8-bit image",
        "transforms/imaging.py",
        "    if not isinstance(transparent, int):\n",
        "    if True:\n",
        ("tests/test_imaging.py::test_transparency_is_composited_on_white_in_every_mode",),
    ),
    Mutant(
        "png_key_colour_unscaled",
        "a 4-bit gray PNG's tRNS key compared on another scale than its pixels",
        "transforms/imaging.py",
        '        image.info["transparency"] = key * (255 // (2**bits - 1))\n',
        "        pass\n",
        ("tests/test_imaging.py::test_transparency_is_composited_on_white_in_every_mode",),
    ),
    Mutant(
        "rgb16_key_on_high_bytes",
        "a 16-bit RGB PNG's tRNS key matched on the high byte of each sample only",
        "transforms/imaging.py",
        "    samples = np.asarray(image, np.uint32) << 8 | np.asarray(low, np.uint32)\n",
        "    samples = np.asarray(image, np.uint32) << 8 | (np.asarray(key, np.uint32) & 255)\n",
        ("tests/test_imaging.py::test_a_sixteen_bit_rgb_key_is_matched_on_all_sixteen_bits",),
    ),
    Mutant(
        "keep_original_any_depth",
        "--keep_original keeps a 16-bit or 4-bit PNG that Pillow opens as RGB or L",
        "transforms/imaging.py",
        "        and _eight_bit_samples(data, image.format, settings.mode)\n",
        "",
        ("tests/test_imaging.py::test_keep_original_keeps_only_files_in_the_promised_form",),
    ),
    Mutant(
        "lab_profile_kept",
        "a LAB image's PNG carries the sRGB profile ImageCms made at that second",
        "transforms/imaging.py",
        '            image.info.pop("icc_profile", None)\n',
        "            pass\n",
        ("tests/test_imaging.py::test_a_lab_image_gives_the_same_png_on_every_run",),
    ),
    Mutant(
        "decoder_always_raises",
        "convert_image raises TypeError for every image",
        "transforms/imaging.py",
        '    """Returns a `ConvertedImage` for the source bytes, or raises `ImageError`."""\n',
        '    """Returns a `ConvertedImage` for the source bytes, or raises `ImageError`."""\n'
        '    raise TypeError("mutant")\n',
        ("tests/test_decode_fuzz.py",),
    ),
    Mutant(
        "shard_order_by_hash",
        "records ordered in a shard by Python's per-process hash()",
        "transforms/shard_stream.py",
        "    return image.order, image.relative_path\n",
        "    return hash(image.relative_path), image.relative_path\n",
        ("tests/test_end_to_end_shards.py",),
    ),
    Mutant(
        "error_row_dropped",
        "the first failure of each shard never becomes an error row",
        "transforms/shard_writer.py",
        "        for path, failure in written.failures:\n",
        "        for path, failure in written.failures[1:]:\n",
        ("tests/test_end_to_end_local.py", "tests/test_listing.py"),
    ),
    Mutant(
        "redaction_off",
        "credentials are no longer blanked in log lines",
        "pipeline/command.py",
        '        text = text.replace(secret, "***")\n',
        "        pass\n",
        ("tests/test_cli.py::test_debug_logs_name_no_credentials", "tests/test_inspect_dataset.py"),
    ),
    Mutant(
        "label_from_grandparent",
        "the class taken one folder level too high",
        "transforms/label.py",
        "    return parts[-2] if len(parts) >= 2 and parts[-2] else None\n",
        "    return parts[-3] if len(parts) >= 3 and parts[-3] else None\n",
        ("tests/test_label.py",),
    ),
    Mutant(
        "crc_skipped",
        "records framed with a zero data crc",
        "transforms/formats/tfrecord.py",
        'record, struct.pack("<I", _masked_crc32c(record)))',
        'record, struct.pack("<I", 0))',
        ("tests/test_tfrecord.py",),
    ),
    Mutant(
        "unstable_decode_unchecked",
        "TIFFs decoded once: memory the decoder never filled is written",
        "transforms/pixel_checks.py",
        'UNSTABLE_FORMATS = ("TIFF",)\n',
        "UNSTABLE_FORMATS = ()\n",
        ("tests/test_pixel_checks.py",),
    ),
    Mutant(
        "resume_trusts_unread_shards",
        "a rerun reuses a recorded shard without checking its bytes",
        "transforms/resume.py",
        "    return (size is None or seen == size) and digest.hexdigest() == sha256\n",
        "    return True\n",
        ("tests/test_killed_run.py::test_a_complete_shard_whose_bytes_changed_is_converted_again",),
    ),
    Mutant(
        "resume_ignores_source_changes",
        "a source file edited since the interrupted run keeps its old shard",
        "transforms/resume.py",
        '    if has_scheme(path):\n        return ""\n',
        '    if has_scheme(path) or True:\n        return ""\n',
        ("tests/test_resume.py",),
    ),
    Mutant(
        "hash_of_absolute_path",
        "splits and shard order hash the absolute path, not the one under --input",
        "transforms/split.py",
        "placed_by = keyed.content or relative",
        "placed_by = keyed.content or keyed.path",
        ("tests/test_end_to_end_shards.py",),
    ),
    Mutant(
        "foreign_files_replaced",
        "files the run did not write are removed as if they were ours",
        "transforms/ownership.py",
        "    return {name for name in names if name in owned or is_temporary(name)}\n",
        "    return {name for name in names if is_dataset_file(name)}\n",
        ("tests/test_ownership.py",),
    ),
    Mutant(
        "hidden_files_read",
        "hidden files and folders are converted, not skipped",
        "transforms/listing.py",
        '    return any(part.startswith(".") for part in relative.split("/"))\n',
        "    return False\n",
        ("tests/test_listing.py",),
    ),
    Mutant(
        "split_ratio_rounding",
        "validation takes floor instead of round of its share",
        "transforms/split.py",
        "    validation = math.floor(n * validation_ratio + 0.5)\n",
        "    validation = math.floor(n * validation_ratio)\n",
        ("tests/test_split.py",),
    ),
    Mutant(
        "lossless_jpeg_drafted",
        "lossless JPEGs decoded in draft mode (libjpeg breaks or aborts the process)",
        "transforms/imaging.py",
        "    return frame is not None and frame[0] in _LOSSLESS_FRAMES\n",
        "    return False\n",
        ("tests/test_imaging.py",),
    ),
    Mutant(
        "shard_processes_outlive_launcher",
        "shard-writing processes go on after the launcher is killed",
        "transforms/shard_processes.py",
        "    parent = multiprocessing.parent_process()\n    if parent is None:\n",
        "    parent = multiprocessing.parent_process()\n    if parent is None or True:\n",
        ("tests/test_shard_processes.py",),
    ),
    Mutant(
        "shard_processes_unordered",
        "a shard-writing process writes its records in listing order, not by their seeded order",
        "transforms/shard_stream.py",
        "self._converter.convert(sorted(images, key=_in_shard_order), lambda i: i.path)",
        "self._converter.convert(images, lambda i: i.path)",
        ("tests/test_shard_processes.py",),
    ),
    Mutant(
        "histogram_before_encoding",
        "--statistics stored counts the pixels given to the JPEG encoder, not those stored",
        "transforms/imaging.py",
        '        if encoded is not None and settings.image_format == "jpeg":\n',
        "        if False:\n",
        ("tests/test_imaging.py",),
    ),
    Mutant(
        "statistics_sample_shifted",
        "the default statistics count other pixels than every 4th row and column from the 3rd",
        "transforms/imaging.py",
        "box=(0, 0, width, height)",
        "box=(0, 0, height, width)",
        ("tests/test_imaging.py::test_histogram_by_default_counts_every_4th_row_and_column_given_to_the_jpeg_encoder",),
    ),
    Mutant(
        "unique_example_entries_kept",
        "every record's file name is kept in the Example entry cache, which fills with them",
        "transforms/example_proto.py",
        "        kept = key not in unique_keys and (\n",
        "        kept = (\n",
        ("tests/test_example_proto.py::test_kept_entries_give_the_same_bytes_and_unique_keys_are_not_kept",),
    ),
    Mutant(
        "summary_time_after_start_up",
        "the summary's time counts from after Beam's import, not from the command's start",
        "pipeline/convert/main.py",
        '    start = command_started()  # Beam\'s import included (README, "Quick start").\n',
        "    start = time.monotonic()\n",
        ("tests/test_summary.py::test_the_summary_s_time_includes_beam_s_import",),
    ),
    Mutant(
        "outcome_changes_its_inputs",
        "the outcome's combine adds other shards' statistics into a shard's own entry",
        "transforms/dataset_info.py",
        "        self.statistics.setdefault(split, Statistics()).merge(statistics)\n",
        "        self.statistics.setdefault(split, statistics) is statistics"
        " or self.statistics[split].merge(statistics)\n",
        ("tests/test_outcome_totals.py::test_any_split_into_accumulators_and_merge_order_gives_the_same_totals",),
    ),
    Mutant(
        "odd_paths_unbounded",
        "a warning's list of paths keeps every path, not the first 100",
        "transforms/dataset_info.py",
        "sorted([*first, *paths])[:_WARNED_PATHS]",
        "sorted([*first, *paths])",
        ("tests/test_outcome_totals.py::test_any_split_into_accumulators_and_merge_order_gives_the_same_totals",),
    ),
    Mutant(
        "smaller_side_of_the_last_merged",
        "the smallest side of images stored smaller than asked is the last merged shard's",
        "transforms/dataset_info.py",
        "side if smallest is None else min(smallest, side)",
        "side",
        ("tests/test_outcome_totals.py::test_any_split_into_accumulators_and_merge_order_gives_the_same_totals",),
    ),
    Mutant(
        "statistics_pixels_misnamed",
        "dataset_info.json says the statistics counted the stored pixels when they counted others",
        "transforms/dataset_info.py",
        '{"pixels_counted": run["image"]["statistics"], ',
        '{"pixels_counted": "stored", ',
        ("tests/test_end_to_end_duplicates.py::test_statistics_by_default_count_the_pixels_given_to_the_encoder",),
    ),
    Mutant(
        "leakage_unseen",
        "copies in two splits are not reported as across_splits",
        "transforms/duplicates.py",
        "        if len(self.splits) > 1:\n",
        "        if False:\n",
        ("tests/test_duplicates.py",),
    ),
    Mutant(
        "dedupe_keeps_any_copy",
        "--dedupe keeps whichever copy comes first, not the smallest path",
        "transforms/dedupe.py",
        "    copies = sorted(copies, key=_kept_order(root))\n",
        "    copies = list(copies)\n",
        ("tests/test_dedupe.py",),
    ),
    Mutant(
        "manifest_quote_left_open",
        "a CSV row's unclosed quote is read as part of a path, not as a bad_row",
        "transforms/manifest.py",
        "        values = [value.strip() for value in next(csv.reader([line], strict=True))]\n",
        "        values = [value.strip() for value in next(csv.reader([line], strict=False))]\n",
        ("tests/test_manifest.py",),
    ),
    Mutant(
        "hashes_not_resumed",
        "resume records drop the records' hashes: a reused shard's duplicates go unreported",
        "transforms/resume.py",
        '"hashes": [list(row) for row in hashes],',
        '"hashes": [],',
        ("tests/test_killed_run.py",),
    ),
    Mutant(
        "manifest_labels_sorted_together",
        "a manifest's ids and other labels sorted into one class list ({0, 1, -1} -> -1, 0, 1)",
        "transforms/manifest.py",
        "    if ids and others:\n",
        "    if ids and others:\n        return sorted(label for _, label in ids + others)\n",
        ("tests/test_end_to_end_manifest.py::test_a_label_that_is_no_id_among_ids_stops_the_run_naming_its_line",),
    ),
    Mutant(
        "labels_file_ids_by_name",
        "a manifest's class ids looked up by name in a --labels_file of digit names",
        "transforms/manifest.py",
        "        return ManifestClasses(tuple(fixed), by_id=bool(ids) and not others)\n",
        "        return ManifestClasses(tuple(fixed), by_id=False)\n",
        ("tests/test_end_to_end_manifest.py::test_a_labels_file_of_digit_names_names_an_lst_s_ids_by_line",),
    ),
    Mutant(
        "ground_truth_names_ignored",
        "a Ground Truth manifest's class names left out: classes named by their ids",
        "transforms/manifest.py",
        "    names = [names_of_ids.get(str(i), str(i)) for i in range(",
        "    names = [str(i) for i in range(",
        ("tests/test_end_to_end_manifest.py::test_ground_truth_class_names_name_the_ids_as_written",),
    ),
    Mutant(
        "class_name_conflict_ignored",
        "a Ground Truth row that names its id otherwise than the first row is written",
        "transforms/manifest.py",
        "        if row.class_name != name:\n",
        "        if False:\n",
        ("tests/test_end_to_end_manifest.py::test_a_contradicting_class_name_and_a_multi_label_row_are_error_rows",),
    ),
    Mutant(
        "libtiff_filter_case_sensitive",
        "libtiff lines matched in one case only (_TIFFVSetField reaches stderr)",
        "transforms/native_noise.py",
        'rb"^(?:(?i:_?tiff)\\w+|',
        'rb"^(?:_tiff\\w+|TIFF\\w+|',
        ("tests/test_native_noise.py::test_libtiff_lines_in_any_case_are_kept_off_and_name_their_file_at_debug",),
    ),
    Mutant(
        "libtiff_markers_applied_before_lines",
        "a decode's end marker read with its libtiff line unnames the line",
        "transforms/native_noise.py",
        "            kept.extend(_shown(line, decoding, debug) for line in lines)\n            _note(part, decoding)\n",
        "            _note(part, decoding)\n            kept.extend(_shown(line, decoding, debug) for line in lines)\n",
        (
            "tests/test_native_noise.py::"
            "test_a_libtiff_line_is_named_by_the_decodes_under_way_when_it_ended_in_the_order_bytes_came",
        ),
    ),
    Mutant(
        "libtiff_filter_waits_for_end_of_file",
        "the filter drains the pipe until its end of file, which another process holding it delays past the exit",
        "transforms/native_noise.py",
        "            if ends_at >= 0:\n                break\n",
        "",
        ("tests/test_native_noise.py::test_a_process_whose_pipe_another_holds_exits_at_once_with_its_last_line",),
    ),
    Mutant(
        "libtiff_filter_drops_what_came_before_the_end",
        "the bytes read with the end marker are dropped (the last line lost)",
        "transforms/native_noise.py",
        "data if ends_at < 0 else data[:ends_at]",
        'data if ends_at < 0 else b""',
        (
            "tests/test_native_noise.py::"
            "test_what_comes_in_the_read_of_the_end_marker_is_passed_on_and_after_it_nothing",
        ),
    ),
    Mutant(
        "not_s3_called_a_missing_bucket",
        "an endpoint that is not S3 reported as a missing bucket",
        "pipeline/command.py",
        "            if _not_s3(e):\n                raise UsageError(_not_s3_message(flag, e)) from None\n",
        "            pass\n",
        ("tests/test_cli.py::test_an_endpoint_that_is_not_s3_is_named_so",),
    ),
    Mutant(
        "redirect_loop_uncaught",
        "a web server's redirect loop (not S3) ends the command as an unexplained RecursionError",
        "pipeline/command.py",
        '    return isinstance(error, RecursionError) or "maximum recursion depth" in str(error)\n',
        "    return False\n",
        ("tests/test_cli.py::test_an_endpoint_that_is_not_s3_is_named_so",),
    ),
    Mutant(
        "elongated_unwarned",
        "images far longer than wide written without a word",
        "transforms/shard_stream.py",
        "                    odd.setdefault(ELONGATED, []).append(image.relative_path)\n",
        "                    pass\n",
        ("tests/test_end_to_end_warnings.py::test_an_elongated_image_is_named_and_max_aspect_ratio_rejects_it",),
    ),
    Mutant(
        "stray_image_no_label",
        "with --splits_from_folders, an image above <split>/<label>/ reported as no_label",
        "transforms/label.py",
        '        if self._splits_from_folders and relative.count("/") < 2:\n',
        "        if False:\n",
        ("tests/test_end_to_end_warnings.py::test_splits_from_folders_names_a_stray_image_and_a_class_of_one_split",),
    ),
    Mutant(
        "rank_offset_wrong",
        "each range of a class ranked from 0, not after the ranges of smaller hashes",
        "transforms/ranking.py",
        "        offsets[(group, index)] = totals.get(group, 0)\n",
        "        offsets[(group, index)] = 0\n",
        ("tests/test_ranking.py::test_ranks_of_groups_spread_over_many_ranges",),
    ),
    Mutant(
        "ranges_of_the_whole_hash",
        "a group cut into ranges of the whole hash space, not of its own span (a split's class in one range)",
        "transforms/ranking.py",
        "    return (hash_value - span.low) * ranges_in(span.count, target) // (span.high - span.low + 1)\n",
        "    return hash_value * ranges_in(span.count, target) >> _HASH_BITS\n",
        ("tests/test_ranking.py::test_no_range_of_random_hashes_passes_the_bound",),
    ),
    Mutant(
        "ranges_by_another_hash",
        "a class cut into ranges by another hash than the one it is ranked by",
        "transforms/ranking.py",
        "        yield (group, range_of(self._rank_key(item)[0], spans[group], self._target)), item\n",
        "        yield (group, range_of(hash(repr(item)) % (1 << 64), spans[group], self._target)), item\n",
        ("tests/test_ranking.py::test_ranks_of_groups_spread_over_many_ranges",),
    ),
    Mutant(
        "hot_path_keeps_every_row",
        "a path named on more rows than a group holds keeps each of its rows",
        "transforms/manifest.py",
        "        yield row if row.line == piece.summary.line else _repeated(row, piece.summary)\n",
        "        yield row\n",
        ("tests/test_grouping.py::test_a_path_on_many_rows_keeps_its_first_row",),
    ),
    Mutant(
        "hot_copies_all_kept",
        "--dedupe writes every copy of a file copied more often than a group holds",
        "transforms/dedupe.py",
        " if keyed == kept else _duplicate(keyed, kept, root)\n",
        "\n",
        ("tests/test_grouping.py::test_dedupe_keeps_the_smallest_path_of_a_group_in_pieces",),
    ),
    Mutant(
        "pieces_not_by_key",
        "a sorted file's lines cut into pieces by a hash, not by ranges of their key",
        "transforms/sorted_file.py",
        "    return bisect.bisect_right(cuts, line.key), line\n",
        "    return hash(line.key) % (len(cuts) + 1), line\n",
        ("tests/test_sorted_file.py",),
    ),
    Mutant(
        "sorted_file_parts_left",
        "the part files of a sorted file are left beside it",
        "transforms/sorted_file.py",
        "        self._storage.delete([part.path for part in parts])\n",
        "        pass\n",
        ("tests/test_sorted_file.py",),
    ),
    Mutant(
        "shards_unbounded",
        "--num_shards may put any number of images in one shard",
        "transforms/shard.py",
        "    if math.ceil(count / shards) > MAX_SHARD_IMAGES:\n",
        "    if False:\n",
        ("tests/test_shard.py",),
    ),
    Mutant(
        "range_reads_the_line_before",
        "a byte range also reads the line that starts before it (a row read twice when a cut falls inside it)",
        "transforms/line_ranges.py",
        "            next(pieces, None)  # From the byte before",
        "            pass  # From the byte before",
        ("tests/test_line_ranges.py::test_every_line_once_at_every_cut",),
    ),
    Mutant(
        "crlf_cut_by_a_read",
        "a \\r\\n cut in two by the reads inside a range ends two lines (a blank row, line numbers shifted)",
        "transforms/line_ranges.py",
        "        pending = lines.pop()\n",
        '        pending = lines.pop() if not lines[-1].endswith((b"\\r", b"\\n")) else b""\n',
        ("tests/test_line_ranges.py::test_every_line_once_at_every_cut",),
    ),
    Mutant(
        "line_numbers_per_range",
        "a manifest row's line number is its number in its byte range, not in the file",
        "transforms/line_ranges.py",
        "        return self._before[index] + line_in_range\n",
        "        return line_in_range\n",
        ("tests/test_line_ranges.py",),
    ),
    Mutant(
        "key_range_holds_its_start",
        "a key range of a listing holds its start key too: a key at a cut point listed twice",
        "transforms/key_ranges.py",
        "(self.start_after is None or key > self.start_after)",
        "(self.start_after is None or key >= self.start_after)",
        ("tests/test_key_ranges.py::test_a_cut_range_is_its_parts_in_order",),
    ),
    Mutant(
        "key_range_runs_past_its_stop",
        "a key range keeps the keys of its page past its stop: the next range's keys listed twice",
        "transforms/key_ranges.py",
        'listed = [Listed(item["Key"], item["Size"]) for item in contents if key_range.holds(item["Key"])]',
        'listed = [Listed(item["Key"], item["Size"]) for item in contents]',
        ("tests/test_key_ranges.py::test_one_prefix_in_ranges_is_its_serial_listing",),
    ),
    Mutant(
        "key_range_listed_whole",
        "a range listed to its end is held whole before its first key is passed on (millions of keys in one worker)",
        "transforms/key_ranges.py",
        "        page, key_range = list_page(client, key_range)\n        yield from page\n",
        "        page, key_range = list_page(client, key_range)\n        held = [*locals().get('held', []), *page]\n"
        "        if key_range is None:\n            yield from held\n",
        ("tests/test_key_ranges.py::test_a_range_listed_to_its_end_yields_each_page_as_it_comes",),
    ),
    Mutant(
        "key_numbers_of_every_character",
        "cut points made of every character of the keys (the '.jpg' too): uneven ranges, chains of pages",
        "transforms/key_ranges.py",
        "        varying = varying or {c for key in",
        "        varying = varying | {c for key in",
        ("tests/test_key_ranges.py::test_numbered_keys_up_to_a_stop_are_cut_evenly",),
    ),
    Mutant(
        "open_range_cut_only_near",
        "a range with no stop cut only at growing steps past its page: most of a big prefix in one range",
        "transforms/key_ranges.py",
        "    keys = [places.key(step) for step in sorted(near + even)]\n",
        "    keys = [places.key(step) for step in sorted(near)]\n",
        ("tests/test_key_ranges.py::test_digit_keys_are_cut_near_where_their_pages_end_and_evenly_beyond",),
    ),
    Mutant(
        "shard_process_imports_beam",
        "a module the shard-writing processes import loads Beam (1.3 s and its memory in every process)",
        "transforms/duplicates.py",
        "from transforms.sorted_lines import Line\n",
        "from transforms.sorted_lines import Line\nimport apache_beam  # noqa: F401\n",
        ("tests/test_startup.py::test_commands_and_shard_processes_that_need_no_beam_import_none",),
    ),
    Mutant(
        "key_number_out_of_order",
        "a character a place does not hold is read as the next one up: key numbers out of the keys' order",
        "transforms/key_ranges.py",
        "                    digit, rest = index, bool(index)\n",
        "                    digit = min(index + 1, len(chars))\n",
        ("tests/test_key_ranges.py::test_key_numbers_keep_the_keys_order",),
    ),
    Mutant(
        "stem_read_as_digits",
        "a stem the page never varies (n01440764_) read as digits: the cuts spent on stems where no key is",
        "transforms/key_ranges.py",
        "        stem = max((i + 1 for i, c in enumerate(common) if c not in varying), default=0)\n",
        "        stem = 0\n",
        ("tests/test_key_ranges.py::test_keys_after_a_stem_are_cut_among_themselves",),
    ),
    Mutant(
        "no_cut_past_the_stem",
        "no cut past a page's stem: the keys of the next stem (dog_ after cat_) listed behind the rest",
        "transforms/key_ranges.py",
        "        keys += places.past_stem()\n",
        "        pass\n",
        ("tests/test_key_ranges.py::test_a_range_after_a_stem_has_a_cut_past_the_stem",),
    ),
    Mutant(
        "stop_not_passed_on",
        "Ctrl-C and SIGTERM reach the main thread only: shards being written run to their end",
        "pipeline/command.py",
        "        stopping.request()  # Writers in other threads and processes stop too.\n",
        "        pass\n",
        ("tests/test_end_to_end_processes.py::test_sigterm_stops_a_shard_midway",),
    ),
    Mutant(
        "progress_ends_short",
        "a shard's last progress record keeps the count of its last rewrite, not all its images",
        "transforms/progress_records.py",
        "        self._finished = self._images\n        self._write()\n",
        "        self._write()\n",
        ("tests/test_progress_records.py",),
    ),
    Mutant(
        "progress_record_read_once",
        "the launcher never reads a shard's progress record again once it has read it",
        "transforms/progress_records.py",
        "if seen is None or seen.version != version or (fresh and seen.finished < seen.images):",
        "if seen is None or (fresh and seen.finished < seen.images):",
        ("tests/test_progress_records.py",),
    ),
    Mutant(
        "stale_progress_counted",
        "an earlier run's progress records left in --output count as the job's own",
        "pipeline/convert/main.py",
        "    # An earlier run's progress records would count as this job's.\n"
        "    _remove_progress_records(storage, convert_options.output)\n",
        "",
        ("tests/test_portable.py::test_external_workers_read_and_write_s3",),
    ),
    Mutant(
        "stderr_not_drained",
        "the drain returns without waiting: a stderr line reaches a log after the stdout written next",
        "transforms/native_noise.py",
        "        _write_all(2, _DRAINED)\n",
        "        return\n",
        ("tests/test_native_noise.py::test_drain_puts_what_came_before_on_the_real_stderr_first",),
    ),
    Mutant(
        "s3_delete_first_batch_only",
        "of the keys to delete on S3, only the first batch is deleted",
        "transforms/storage.py",
        "    for start in range(0, len(names), _DELETE_BATCH):\n",
        "    for start in range(0, min(len(names), _DELETE_BATCH), _DELETE_BATCH):\n",
        ("tests/test_progress_records.py",),
    ),
    Mutant(
        "progress_end_trusts_versions",
        "the job's last read of the progress records trusts a version that missed a rewrite",
        "transforms/progress_records.py",
        " or (fresh and seen.finished < seen.images):",
        ":",
        ("tests/test_progress_records.py",),
    ),
    Mutant(
        "progress_reads_overlap",
        "the launcher's last read of the progress records runs beside the progress thread's",
        "transforms/progress_records.py",
        "        self._lock = threading.Lock()",
        "        self._lock = threading.Semaphore(4)",
        ("tests/test_progress_records.py",),
    ),
    Mutant(
        "job_rate_from_launcher_start",
        "a cluster job's progress rate counts from the launcher's start, not from the job's first reading",
        "pipeline/progress.py",
        "        if not self._rate_from_first_reading:\n",
        "        if True:\n",
        ("tests/test_progress.py",),
    ),
    Mutant(
        "s3_delete_key_errors_not_retried",
        "keys a DeleteObjects answer names as failed with a transient code are not asked again",
        "transforms/storage.py",
        '            refused = [error for error in failed if error.get("Code") not in _DELETE_RETRIED_CODES]\n',
        "            refused = failed\n",
        ("tests/test_storage.py",),
    ),
    Mutant(
        "s3_no_delete_fallback",
        "a store without DeleteObjects (501 NotImplemented) gets no per-key deletes",
        "transforms/storage.py",
        "                if s3_error_code(e) not in _NOT_IMPLEMENTED_CODES:\n",
        "                if True:\n",
        ("tests/test_storage.py",),
    ),
    Mutant(
        "isolated_workers_take_tmp_paths",
        "a launcher for an isolated cluster takes a local --output under /tmp its workers do not see",
        "runners/cluster_lib.sh",
        "      /tmp/*)\n",
        "      /nowhere/*)\n",
        ("tests/test_runners.py::test_cluster_launchers_refuse_tmp_paths_isolated_workers_miss",),
    ),
    Mutant(
        "image_hashes_pickled",
        "records' hashes cross the duplicate groupings' shuffles untyped (pickled, several times slower)",
        "transforms/find_duplicates.py",
        "_KEYED = typing.Tuple[typing.Tuple[str, str], duplicates.ImageHashes]\n",
        "_KEYED = typing.Tuple[typing.Tuple[str, str], typing.Any]\n",
        ("tests/test_duplicates.py::test_image_hashes_cross_the_groupings_shuffles_with_their_own_coder",),
    ),
    Mutant(
        "progress_log_repeats_lines",
        "a log gets the same progress line again every 5 s (and once more at the end)",
        "pipeline/progress.py",
        "        elif line != self._printed[0] or self._clock() - self._printed[1] >= _LOG_REPEAT_S:\n",
        "        else:\n",
        ("tests/test_progress.py",),
    ),
    Mutant(
        "non_utf8_names_not_reported",
        "an image whose path is not UTF-8 is not reported as such (read under its escaped name: a read_error)",
        "transforms/match.py",
        "                kind = listing.BAD_NAME  # An image it cannot name; a file it skips is only counted.\n",
        "                pass\n",
        ("tests/test_end_to_end_odd_names.py::test_names_that_are_not_utf8_are_error_rows_not_a_failed_job",),
    ),
    Mutant(
        "upload_non_utf8_name_fails_all",
        "upload tries a file whose path is not UTF-8 (the whole upload failed on it)",
        "pipeline/upload/main.py",
        "        elif not listing.is_utf8(path):  # No S3 key can name it.\n",
        "        elif False:\n",
        ("tests/test_upload.py::test_a_name_that_is_not_utf8_is_listed_and_the_rest_uploaded",),
    ),
    Mutant(
        "progress_negative_rate",
        "a job's count below its first reading (a shard written again) shows a negative rate",
        "pipeline/progress.py",
        "max(reading.done - self._first[1], 0))\n",
        "reading.done - self._first[1])\n",
        ("tests/test_progress.py",),
    ),
    Mutant(
        "placed_pickled_after_splits",
        "Placed rows leave AssignSplits untyped (pickled across the shuffles after it)",
        "transforms/split.py",
        '"WithNamedSplits" >> beam.Flatten().with_output_types(Placed)\n',
        '"WithNamedSplits" >> beam.Flatten()\n',
        ("tests/test_duplicates.py::test_image_hashes_cross_the_groupings_shuffles_with_their_own_coder",),
    ),
    Mutant(
        "progress_rate_falls_at_total",
        "at its total the progress line's rate keeps falling while the side files are written",
        "pipeline/progress.py",
        "            now = self._changed[0]  # The rate it reached the total at.\n",
        "            pass\n",
        ("tests/test_progress.py",),
    ),
    Mutant(
        "planned_total_after_writing",
        "the shard-writing stage does not wait for the planned total (Spark wrote it after the job)",
        "pipeline/convert/job.py",
        "        planned=planned,\n",
        "",
        ("tests/test_progress_records.py::test_the_writing_stage_waits_for_the_planned_total",),
    ),
    Mutant(
        "sampler_period_left_at_beams",
        "bundles' state samplers left at Beam's 200 ms period (each bundle's end waits out its sleep)",
        "pipeline/beam_compat.py",
        "    statesampler.StateSampler = PromptStateSampler\n",
        "",
        ("tests/test_beam_compat.py::test_bundles_end_within_a_few_ms_of_beams_sampler",),
    ),
    Mutant(
        "dofn_specs_by_class_only",
        "remembered DoFn specs keyed by class alone: two wrapped callables share one answer",
        "pipeline/beam_compat.py",
        "    return type(dofn), own\n",
        "    return type(dofn)\n",
        ("tests/test_beam_compat.py::test_remembered_specs_tell_wrapped_methods_apart",),
    ),
    Mutant(
        "dofn_specs_by_instance",
        "remembered DoFn specs keyed by instance: every bundle's fresh copy inspected again",
        "pipeline/beam_compat.py",
        "    return type(dofn), own\n",
        "    return id(dofn), dofn\n",
        ("tests/test_beam_compat.py::test_remembered_specs_asked_once_per_kind_of_dofn",),
    ),
    Mutant(
        "early_shard_processes_not_taken",
        "the write stage starts its own shard processes beside those started while planning",
        "transforms/shard_processes.py",
        "        started = _take_early(concurrency.processes) or _spawn(concurrency.processes)\n",
        "        started = _spawn(concurrency.processes)\n",
        ("tests/test_shard_processes.py::test_processes_started_early_write_the_run_and_end_with_it",),
    ),
    Mutant(
        "early_shard_processes_left_running",
        "shard processes started while planning and never used outlive the run",
        "transforms/shard_processes.py",
        "        if started is not None:\n            _end(started.workers)\n",
        "",
        ("tests/test_shard_processes.py::test_processes_started_early_and_never_used_end_with_the_run",),
    ),
    Mutant(
        "early_shard_processes_for_any_run",
        "shard processes started early whatever the listing found",
        "transforms/shard_processes.py",
        "            if metrics.snapshot()[0] >= after_matched:\n",
        "            if True:\n",
        ("tests/test_shard_processes.py::test_processes_started_early_write_the_run_and_end_with_it",),
    ),
    Mutant(
        "boto3_imported_by_every_run",
        "boto3 imported with storage.py, by local runs and shard processes that make no S3 client",
        "transforms/storage.py",
        "import botocore.exceptions\n",
        "import boto3\nimport botocore.exceptions\n",
        ("tests/test_startup.py::test_a_local_conversion_imports_neither_pandas_nor_google_cloud_nor_s3_clients",),
    ),
    Mutant(
        "s3_filesystem_blocked_for_s3_runs",
        "Beam's S3 filesystem blocked even when a path is on S3",
        "pipeline/__init__.py",
        '    if any("s3://" in arg.lower() for arg in argv):\n',
        "    if False:\n",
        ("tests/test_startup.py::test_s3_clients_blocked_only_when_no_path_is_on_s3",),
    ),
    Mutant(
        "dead_early_shard_process_taken",
        "a shard process started early and dead since is given the run's shards",
        "transforms/shard_processes.py",
        "    if len(started.workers) != count or not all(w.process.is_alive() for w in started.workers):\n",
        "    if len(started.workers) != count:\n",
        ("tests/test_shard_processes.py::test_an_early_process_that_died_is_not_given_shards",),
    ),
    Mutant(
        "emr_flink_job_pipelined",
        "the EMR Flink step runs the job in Beam's default PIPELINED mode: a lost TaskManager fails the job",
        "runners/emr/steps-flink.json",
        ',\n        "--execution_mode_for_batch",\n        "BATCH_FORCED"\n',
        "\n",
        ("tests/test_emr.py::test_step_commands_are_valid_im2tfrecord_runs",),
    ),
    Mutant(
        "emr_spark_executors_over_yarn_memory",
        "the Spark executors' containers outgrow the core node's YARN memory (4 x 21 GiB on 56 GiB)",
        "runners/emr/cluster.json",
        '"spark.executor.memory": "5g"',
        '"spark.executor.memory": "13g"',
        ("tests/test_emr.py::test_the_shipped_layout_fits_the_nodes_yarn_memory",),
    ),
    Mutant(
        "emr_policy_without_bootstrap_reads",
        "the instance profile's policy lets the bootstrap action read only the jars, not the package",
        "runners/emr/policy.json",
        '"Resource": "arn:aws:s3:::YOUR-BUCKET/emr/*"',
        '"Resource": "arn:aws:s3:::YOUR-BUCKET/emr/jars/*"',
        ("tests/test_emr.py::test_policy_covers_every_bucket_path_the_recipes_name",),
    ),
    Mutant(
        "sagemaker_instances_same_part",
        "several SageMaker instances all write part 1: the same shards twice, the others left to the finishing job",
        "runners/sagemaker/entrypoint.py",
        "{sorted(hosts).index(host) + 1}/",
        "1/",
        ("tests/test_sagemaker.py::test_two_instances_make_one_dataset_the_finishing_job_completes",),
    ),
    Mutant(
        "spark_submit_guava_last",
        "the job server under spark-submit takes Spark's Guava 14 first, and dies at start (seen on YARN)",
        "runners/emr/spark_submit_java.sh",
        '  [ -f "$guava" ] && first=(--driver-class-path "$guava")\n',
        "  true\n",
        ("tests/test_emr.py::test_spark_submit_java_runs_beams_job_server_command_under_spark_submit",),
    ),
    Mutant(
        "resume_key_without_labels",
        "a resumed shard is keyed by its paths alone: a manifest edited in place keeps the old labels, silently",
        "transforms/resume.py",
        "\\0{image.label}\\0",
        "\\0",
        (
            "tests/test_write_part.py::test_a_finishing_run_with_a_manifest_edited_in_place_writes_its_labels",
            "tests/test_resume.py::test_each_image_s_label_and_record_path_are_in_the_key",
        ),
    ),
    Mutant(
        "reused_images_not_counted",
        "a resumed shard's images are left out of the local progress line, which ends short of its total",
        "transforms/shard_stream.py",
        "                metrics.add_finished(len(images))  # Its images are done: the line counts them.\n",
        "",
        ("tests/test_write_part.py::test_parts_then_a_finishing_run_give_the_single_run_s_dataset[copies-kept]",),
    ),
    Mutant(
        "parts_overlap",
        "--write_part K/N writes the shards of parts 1 to K: machines convert the same shards twice",
        "transforms/parts.py",
        "        return shard_index % self.count == self.number - 1\n",
        "        return shard_index % self.count < self.number\n",
        ("tests/test_write_part.py::test_parts_then_a_finishing_run_give_the_single_run_s_dataset[copies-kept]",),
    ),
    Mutant(
        "part_writes_every_shard",
        "--write_part plans the run but writes every shard: N machines each convert the whole input",
        "pipeline/convert/job.py",
        '        shards = shards | "ThisPart" >> Filter(lambda shard: part.holds(shard[0][1]))\n',
        "        pass\n",
        ("tests/test_write_part.py::test_parts_then_a_finishing_run_give_the_single_run_s_dataset[copies-kept]",),
    ),
    Mutant(
        "spark_step_restarts_python_per_task",
        "the EMR Spark step keeps no SDK worker: Beam's Spark runner starts Python for every task (3x the time)",
        "runners/emr/steps-spark.json",
        '        "--environment_cache_millis",\n        "600000",\n',
        "",
        ("tests/test_emr.py::test_step_commands_are_valid_im2tfrecord_runs",),
    ),
    Mutant(
        "loader_workers_read_the_rank_s_shards",
        "torch_dataset ignores its DataLoader worker: each of N loader workers yields the rank's records (N copies)",
        "pipeline/read/torch_data.py",
        "        return place.within(workers.WorkerPlace(loader.id, loader.num_workers)) if loader else place\n",
        "        return place\n",
        ("tests/test_read_workers.py::test_dataloader_two_workers_in_each_of_two_ranks_read_every_record_once",),
    ),
    Mutant(
        "ddp_rank_ignored",
        "torch_dataset ignores torch.distributed's rank: every rank reads the whole split",
        "pipeline/read/torch_data.py",
        "    if torch.distributed.is_available() and torch.distributed.is_initialized():\n",
        "    if False:\n",
        ("tests/test_read_workers.py::test_dataloader_two_workers_in_each_of_two_ranks_read_every_record_once",),
    ),
    Mutant(
        "torch_epoch_ignored",
        "torch_dataset's set_epoch does nothing: every epoch in the same order",
        "pipeline/read/torch_data.py",
        "        self._epoch, self._iterated = epoch, 0\n",
        "        pass\n",
        ("tests/test_read_workers.py::test_dataloader_two_workers_in_each_of_two_ranks_read_every_record_once",),
    ),
    Mutant(
        "input_context_ignored",
        "tf_dataset ignores the InputContext: under MultiWorkerMirroredStrategy every worker reads the whole split",
        "pipeline/read/tf_data.py",
        "    if place is None and input_context is not None:\n",
        "    if False:\n",
        ("tests/test_read_workers.py::test_multi_worker_mirrored_strategy_two_processes_read_every_record_once",),
    ),
    Mutant(
        "tf_even_not_cut",
        "tf_dataset's even=True reads every record: workers take different numbers of steps",
        "pipeline/read/tf_data.py",
        "        records = records.take(mine.records)\n",
        "        pass\n",
        ("tests/test_read_workers.py::test_multi_worker_mirrored_strategy_two_processes_read_every_record_once",),
    ),
    Mutant(
        "even_count_is_the_worker_s_own",
        "even=True stops each worker at its own count, not the smallest worker's",
        "pipeline/read/workers.py",
        "    return WorkerShards(mine, min(loads) if even else loads[place.index])\n",
        "    return WorkerShards(mine, loads[place.index])\n",
        ("tests/test_read_workers.py::test_an_uneven_split_warns_once_and_even_gives_every_worker_the_smallest_count",),
    ),
    Mutant(
        "skipped_kinds_first_seen_kept",
        "the bounded count of skipped kinds keeps the first kinds seen: which survive depends on the merge order",
        "transforms/skipped.py",
        "            del self.by_kind[max(self.by_kind, key=_order)]\n",
        "            del self.by_kind[skipped_kind]\n",
        ("tests/test_skipped.py::test_skipped_kinds_are_exact_and_bounded_whatever_the_merge_order",),
    ),
    Mutant(
        "skipped_kinds_sorted_by_name_alone",
        "past 32 kinds, hidden files go to other kinds first: every extension sorts before a named kind",
        "transforms/skipped.py",
        "            del self.by_kind[max(self.by_kind, key=_order)]\n",
        "            del self.by_kind[max(self.by_kind)]\n",
        ("tests/test_skipped.py::test_named_kinds_are_kept_before_odd_extensions",),
    ),
    Mutant(
        "hidden_files_skipped_by_extension",
        "a hidden file's kind is its extension: a skipped .DS_Store or hidden .png reads as a kind of file",
        "transforms/skipped.py",
        "    if listing.is_hidden(relative):\n        return HIDDEN\n",
        "",
        ("tests/test_listing.py::test_every_file_is_written_failed_or_skipped",),
    ),
    Mutant(
        "summary_without_skipped_kinds",
        "the summary says how many files were skipped but not which kinds",
        "pipeline/convert/summary.py",
        '    lines += filter(None, [skipped.summary_line(info.get("skipped"))])\n',
        "",
        ("tests/test_listing.py::test_every_file_is_written_failed_or_skipped",),
    ),
    Mutant(
        "lone_loader_warns_uneven",
        "torch_dataset warns of an uneven split among one process's DataLoader workers, which never wait",
        "pipeline/read/torch_data.py",
        "        return self._rank().count > 1 and (loader is None or loader.id == 0)\n",
        "        return loader is None or loader.id == 0\n",
        ("tests/test_read_workers.py::test_one_process_loader_workers_warn_of_an_uneven_split_only_among_ranks",),
    ),
    Mutant(
        "shards_dealt_round_robin",
        "shards dealt to workers in turn, not by record count",
        "pipeline/read/workers.py",
        "        records, worker = heapq.heappop(loads)\n",
        "        records, worker = loads.pop(0)\n        loads.append((0, worker))\n"
        "        taken[worker].append(number)\n        continue\n",
        ("tests/test_read_workers.py::test_whole_shards_go_largest_first_to_the_least_loaded_worker",),
    ),
    Mutant(
        "decoded_out_of_order",
        "iter_examples' decoding threads hand chunks back newest first",
        "pipeline/read/stream.py",
        "            while in_flight:\n                yield from in_flight.popleft().result()\n",
        "            while in_flight:\n                yield from in_flight.pop().result()\n",
        ("tests/test_read_workers.py::test_parallel_decoding_keeps_the_order",),
    ),
    Mutant(
        "read_ahead_out_of_order",
        "S3 shards read ahead are consumed newest first",
        "pipeline/read/stream.py",
        "            reader = pending.popleft()\n",
        "            reader = pending.pop()\n",
        ("tests/test_read.py::test_a_corrupt_or_missing_s3_shard_is_named",),
    ),
    Mutant(
        "tf_config_ignored",
        "tf_dataset without an InputContext ignores TF_CONFIG: each MultiWorkerMirroredStrategy worker reads it all",
        "pipeline/read/tf_data.py",
        "    return place or workers.tf_config_place() or workers.ALONE\n",
        "    return place or workers.ALONE\n",
        ("tests/test_read_workers.py::test_multi_worker_mirrored_strategy_two_processes_read_every_record_once",),
    ),
    Mutant(
        "s3_interleave_refills_at_the_end",
        "tf_dataset over S3 puts the next shard at the end of the cycle, not in the finished one's place",
        "pipeline/read/stream.py",
        "                    slots[index] = _ShardAhead(storage, next_shard, record_format, stop)\n",
        "                    del slots[index]\n"
        "                    slots.append(_ShardAhead(storage, next_shard, record_format, stop))\n",
        ("tests/test_read_workers.py::test_s3_shards_come_in_the_order_tf_data_gives_the_local_ones[moto]",),
    ),
    Mutant(
        "shard_multiple_ignored",
        "--shard_multiple leaves shard counts as they were: training workers get different numbers of shards",
        "transforms/shard.py",
        "    shards = max(1, min(round_up(wanted, multiple), count))\n",
        "    shards = max(1, min(wanted, count))\n",
        ("tests/test_shard.py",),
    ),
    Mutant(
        "shard_multiple_not_passed_to_the_plan",
        "the converter's plan is made without --shard_multiple",
        "pipeline/convert/job.py",
        "        parse_num_shards(convert.num_shards), convert.shard_size_mb * _MIB, record_bytes, "
        "convert.shard_multiple\n",
        "        parse_num_shards(convert.num_shards), convert.shard_size_mb * _MIB, record_bytes\n",
        ("tests/test_end_to_end_shards.py::test_shard_multiple_gives_shard_counts_the_training_workers_divide",),
    ),
    Mutant(
        "decoding_threads_drop_records_before_damage",
        "iter_examples' threads raise a damaged shard's error at once, dropping the records read before it",
        "pipeline/read/stream.py",
        "                except Exception as e:  # noqa: BLE001 - raised below, after the items before it\n"
        "                    error = e\n",
        "                except Exception:\n                    raise\n",
        ("tests/test_read.py::test_decoding_threads_yield_every_record_before_the_damage",),
    ),
    Mutant(
        "persistent_workers_keep_epoch_zero",
        "torch_dataset's persistent DataLoader workers read every epoch in epoch 0's order (they never see set_epoch)",
        "pipeline/read/torch_data.py",
        "        epoch = self._epoch + self._iterated\n",
        "        epoch = self._epoch\n",
        ("tests/test_read_workers.py::test_dataloader_two_workers_in_each_of_two_ranks_read_every_record_once",),
    ),
    Mutant(
        "readme_link_broken",
        "a README link to a docs page that does not exist",
        "README.md",
        "- [training.md](docs/training.md):",
        "- [training.md](docs/trainig.md):",
        ("tests/test_docs.py",),
    ),
    Mutant(
        "option_views_made_every_time",
        "ViewsOnce makes a new options view (and argparse parser) on every view_as",
        "pipeline/beam_compat.py",
        "        view = views.get(cls)\n",
        "        view = None\n",
        ("tests/test_beam_compat.py::test_options_flags_go_to_one_parser_and_views_share_their_values",),
    ),
    Mutant(
        "warning_without_summary_line",
        "a warning written to dataset_info.json but left out of the summary (its row gone from the table)",
        "transforms/dataset_warnings.py",
        '    IMAGES_LIKE_NOISE: _odd("looks like noise", "look like noise"),\n',
        "",
        ("tests/test_end_to_end_warnings.py",),
    ),
    Mutant(
        "manifest_paths_not_normalised",
        "a manifest's a/./b left as is: one file under two names (two records, two placements)",
        "transforms/paths.py",
        '        if part in ("", "."):\n',
        '        if part == "":\n',
        ("tests/test_manifest.py",),
    ),
    Mutant(
        "spawned_loader_workers_lose_the_rank",
        "torch_dataset's spawned DataLoader workers (no process group) read as if alone: every rank reads it all",
        "pipeline/read/torch_data.py",
        "        return self._place or _ddp_place() or self._rank_place or workers.ALONE\n",
        "        return self._place or _ddp_place() or workers.ALONE\n",
        ("tests/test_read_workers.py::test_dataloader_two_workers_in_each_of_two_ranks_read_every_record_once",),
    ),
    Mutant(
        "beams_apitools_warning_shown",
        "every run without google-apitools installed prints Beam's warning about BigQuery's clients",
        "pipeline/__init__.py",
        "        _drop_beams_apitools_warning()\n",
        "",
        ("tests/test_startup.py::test_beams_warning_about_missing_apitools_is_not_shown",),
    ),
)


def _copy_with(mutant, workdir):
    """A copy of the project with the mutant's edit, beside a link to the shared data."""
    copy = os.path.join(workdir, "project")
    shutil.copytree(ROOT, copy, ignore=_NOT_COPIED, symlinks=True)
    if os.path.isdir(SHARED):
        os.symlink(SHARED, os.path.join(workdir, "shared"))
    path = os.path.join(copy, mutant.file)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(mutant.old) != 1:
        raise SystemExit(
            f"mutant {mutant.name}: its edit no longer applies to {mutant.file} "
            f"(found {text.count(mutant.old)} times); update tests/mutants.py"
        )
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(mutant.old, mutant.new))
    return copy


def _run_tests(copy, tests):
    """(exit code, names of the failed tests) of the tests run in `copy`."""
    env = dict(os.environ, PYTHONPATH=copy, PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)  # A skip here is not a catch; the report says so.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-rfs", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.MULTILINE)
    return result.returncode, failed, result.stdout


def _timed_check(mutant):
    start = time.monotonic()
    killed, verdict = check(mutant)
    return killed, verdict, time.monotonic() - start


def check(mutant):
    """(killed, what caught it or why not)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as workdir:
        copy = _copy_with(mutant, workdir)
        code, failed, output = _run_tests(copy, mutant.tests)
    if failed:
        return True, f"killed by {failed[0]}"
    if code == 0:
        return False, "SURVIVED: every test passed"
    return False, f"not judged: pytest exited {code}\n{output[-2000:]}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="mutants to check (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTANTS}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        parser.error(f"unknown mutants {unknown}; known: {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.names] or list(MUTANTS)
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.what} ({m.file}; caught by {', '.join(m.tests)})")
        return 0
    survivors = 0
    # Two at a time: each is one pytest process, mostly one core's work.
    with concurrent.futures.ThreadPoolExecutor(_AT_ONCE) as pool:
        for m, (killed, verdict, seconds) in zip(chosen, pool.map(_timed_check, chosen)):
            survivors += not killed
            print(f"{m.name}: {m.what}: {verdict} ({seconds:.0f} s)", flush=True)
    print(f"{len(chosen) - survivors} of {len(chosen)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
