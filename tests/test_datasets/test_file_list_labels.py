"""Issue 17, item 6 (labels): a file-list label outside [0, 2**31), or not below the number of
classes the dataset is given, is refused when the dataset is built, naming the list, the line
and the value (before: ``99999999999999999999`` passed start-up and crashed later with
"Overflow when unpacking long long", naming nothing)."""
import pytest

from mmmoco.datasets import ImageFolderDataset


def dataset_of(tmp_path, label: str, **kwargs) -> ImageFolderDataset:
    """A dataset reading a two-line list whose second line has ``label``."""
    (tmp_path / 'train.txt').write_text(f'a.jpg 1\nb.jpg {label}\n')
    return ImageFolderDataset(data_root=str(tmp_path), ann_file='train.txt', **kwargs)


@pytest.mark.parametrize('label', ['99999999999999999999', str(2**31)])
def test_label_beyond_int32_is_refused_with_file_line_and_value(tmp_path, label):
    with pytest.raises(ValueError, match=rf'train\.txt:2: label {label} is out of range: a label '
                                         r'is a class index in \[0, 2147483648\)'):
        dataset_of(tmp_path, label)


def test_largest_label_is_accepted(tmp_path):
    dataset = dataset_of(tmp_path, str(2**31 - 1))
    assert dataset.get_data_info(1)['gt_label'] == 2**31 - 1


def test_label_beyond_the_given_classes_is_refused(tmp_path):
    classes = dict(classes=('cat', 'dog'))
    with pytest.raises(ValueError, match=r'train\.txt:2: label 2 is out of range: .*\[0, 2\) '
                                         r'\(the dataset has 2 classes\)'):
        dataset_of(tmp_path, '2', metainfo=classes)
    assert dataset_of(tmp_path, '0', metainfo=classes).get_data_info(1)['gt_label'] == 0
