"""Raw recordings and storage: DCA1000 files, packet captures, sample layouts, the HDF5 store.

>>> from radarkit.config import load_config
>>> from radarkit.io import Recording
>>> cfg = load_config("capture.cfg")                       # doctest: +SKIP
>>> with Recording("adc_data.bin", cfg, iq_order="auto") as rec:  # doctest: +SKIP
...     raw = rec.read(0, 4)   # (4, loops, tx_slot, rx, samples) complex64
"""

from radarkit.io.layout import decode_frames, decode_samples, encode_frames
from radarkit.io.packets import PacketFile, is_packet_file, write_packet_file
from radarkit.io.pcap import PcapCapture, read_pcap_samples, write_pcap
from radarkit.io.recording import CaptureReport, Recording, detect_iq_order, open_source
from radarkit.io.store import CubeFile, CubeWriter, open_cube
from radarkit.io.streams import ByteSource, FileParts, expand_parts
from radarkit.io.writer import write_recording

__all__ = [
    "ByteSource",
    "CaptureReport",
    "CubeFile",
    "CubeWriter",
    "FileParts",
    "PacketFile",
    "PcapCapture",
    "Recording",
    "decode_frames",
    "decode_samples",
    "detect_iq_order",
    "encode_frames",
    "expand_parts",
    "open_cube",
    "is_packet_file",
    "open_source",
    "read_pcap_samples",
    "write_packet_file",
    "write_pcap",
    "write_recording",
]
